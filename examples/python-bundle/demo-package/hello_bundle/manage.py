import sys

from . import __version__

if __name__ == "__main__":
    if sys.argv[1:] == ["version"]:
        print(f"hello-bundle {__version__}")
    else:
        print("usage: manage version", file=sys.stderr)
        sys.exit(64)
