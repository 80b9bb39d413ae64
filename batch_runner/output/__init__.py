"""What a run leaves behind: the results CSV, the summary, the HTML report, downloaded videos, progress."""
