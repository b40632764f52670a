"""Reports (interface layer): the files a program-search campaign leaves in its run directory
(:mod:`gtlearn.reports.campaign_files`) and the self-contained HTML pages of a campaign
(:mod:`gtlearn.reports.campaign_page`) and of a run, a comparison or a results file
(:mod:`gtlearn.reports.run_page`)."""

from gtlearn.reports.campaign_files import plot_lineage, scores_markdown, write_campaign_outputs
from gtlearn.reports.campaign_page import campaign_html
from gtlearn.reports.run_page import run_html

__all__ = ["campaign_html", "plot_lineage", "run_html", "scores_markdown", "write_campaign_outputs"]
