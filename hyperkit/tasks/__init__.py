"""Tasks: the experiment runners the CLI calls, each writing a run folder with a
manifest (run.json), results and figures."""
