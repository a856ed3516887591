import platform
import sys

print(f"report from python {platform.python_version()} with args {sys.argv[1:]}")
