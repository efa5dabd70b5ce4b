"""One module per platform (Slack, Discord, console) behind one contract."""
