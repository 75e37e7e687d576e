"""Tasks: the experiment runners the command line calls, each writing a run folder through
:class:`hyperkit.runs.RunFolder` (config, per-unit metrics, results, manifest, figures).

    synthetic.py   Table 1 (run_synthetic); synthetic_plots.py its figures
    iqa/           Table 2: settings, arms (the arm table), data, split, runner, report, plots
    forgery/       Table 3: settings, seed, runner, report, plots
    explain.py     importance maps of image files; their check on the synthetic task
    report.py      mean ± std (median, worst) cells and Markdown table rows
    plotting.py    matplotlib on the Agg backend
"""
