"""The model zoo (README "Share a model"): train a row's recipe, write its pretrained folder, check its
held-out figure against the table.

python scripts/zoo.py                                  # the table (markdown)
python scripts/zoo.py row=ngram-shakespeare-char-6     # train / reuse, export to outputs/zoo/<row>, check
python scripts/zoo.py row=NAME push_to_hub=user/NAME   # ... and upload the folder

Ends with one JSON line; exit status 1 when the figure is outside the row's tolerance.
"""

import json
import sys

from seqgen.app import cli, zoo


def main(argv):
    keys = dict(a.split("=", 1) for a in argv if "=" in a)
    unknown = sorted(set(keys) - {"row", "out_root", "data_root", "out", "push_to_hub"})
    if unknown or any("=" not in a for a in argv):
        print(f"error: unknown argument(s) {unknown or [a for a in argv if '=' not in a]}; "
              f"valid: row= out_root= data_root= out= push_to_hub=", file=sys.stderr)
        sys.exit(2)
    if "row" not in keys:
        print(zoo.table())
        return
    row = cli.run(zoo.get, keys.pop("row"))
    result = cli.run(zoo.run, row, keys.get("out_root", "outputs"), keys.get("data_root", "data"), keys.get("out"),
                     keys.get("push_to_hub"))
    print(json.dumps(result))
    if not result["ok"]:
        print(f"error: {row.name}: {row.metric} {result['value']:.4f}, the table says {row.value} "
              f"(tolerance {row.tolerance:.0%})", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
