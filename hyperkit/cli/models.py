"""``hyperkit models``: the pretrained models shipped in the package, with their cards."""

from __future__ import annotations

import argparse

HELP = "list the pretrained models, or print one model's card"
DESCRIPTION = ("Without a name: each shipped model with the first lines of its card. With a "
               "name: the whole card (data, what the score means, measured SROCC on held-out "
               "references, what it does not know).")
EXAMPLES = "examples:\n  hyperkit models\n  hyperkit models photo-iqa"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="print this model's full card")


def run_from_args(args: argparse.Namespace) -> None:
    """Lists the models, or prints one card."""
    from hyperkit import pretrained

    names = pretrained.models()
    if args.name is not None:
        if args.name not in names:
            raise SystemExit(f"hyperkit models: error: no pretrained model {args.name!r}; "
                             f"shipped: {', '.join(names) or 'none'}")
        print(pretrained.card(args.name))
        return
    if not names:
        print("no pretrained models in this installation")
    for name in names:
        d = pretrained.card_data(name)
        r = d["test_srocc"]
        print(f"{name}\t{pretrained.card(name).splitlines()[0].lstrip('# ')}\n"
              f"\theld-out SROCC all {r['all']:.3f}, uniform {r['uniform']:.3f}, local "
              f"{r['local']:.3f}; full card: hyperkit models {name}")
