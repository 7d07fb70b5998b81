"""Newswatch: news monitoring for counter-terrorism analysts.

Every stage of the pass lives in its own module and works on iterables of
:class:`pipeline.models.Article`, so that a DAG task, the CLI and a test all
call the same code.
"""

__version__ = "0.1.0"
PIPELINE_VERSION = __version__
