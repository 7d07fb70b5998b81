"""Newswatch: news monitoring for counter-terrorism analysts.

Every stage of the pass lives in its own module and works on iterables of
:class:`pipeline.models.Article`, so that a DAG task, the CLI and a test all
call the same code.
"""

__version__ = "0.1.0"
PIPELINE_VERSION = __version__
# The Airflow asset that the ingest DAG updates when a run stores articles; the alerts DAG is
# scheduled on it. Here rather than in pipeline.jobs so that DAG files import nothing heavy.
ARTICLES_ASSET_URI = "newswatch://articles"
