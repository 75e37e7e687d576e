"""The scoring methods of a two-stage model and how tables, plots and the CLI label them
(torch-free, so the command line can list them without loading torch)."""

METHODS = {"two_stage": "Two-stage (hyper-image)", "patch_average": "Patch-averaging",
           "patch_min": "Worst patch", "patch_p10": "10th-percentile patch",
           "patch_softmin": "Softmin of patches"}
