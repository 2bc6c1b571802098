"""``python -m minissl.datasets fetch NAME|all`` gets data sets; ``python -m minissl.datasets list`` shows them."""
import argparse
import sys

from . import SOURCES, data_dir, fetch, present


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m minissl.datasets", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="get one data set, or all of them")
    f.add_argument("name", choices=[*SOURCES, "all"])
    sub.add_parser("list", help="say which data sets are here")
    args = p.parse_args(argv)
    if args.cmd == "list":
        print(f"cache: {data_dir()}")
        for n in SOURCES:
            print(f"  {n:14s} {'here' if present(n) else 'missing'}")
        return 0
    return 0 if fetch(args.name) else 1


if __name__ == "__main__":
    sys.exit(main())
