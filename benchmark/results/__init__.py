"""Results rebuilt from stored records: leaderboards, summary, trajectories, plots and the HTML page."""
