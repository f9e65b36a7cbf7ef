#!/usr/bin/python3
"""Merges po/virthypervd.pot into po/fr.po with msgmerge and reports every
message left untranslated or fuzzy; exit status 1 if any is."""
import subprocess
import sys

po = sys.argv[1] if len(sys.argv) > 1 else "po/fr.po"
pot = sys.argv[2] if len(sys.argv) > 2 else "po/virthypervd.pot"
subprocess.run(["msgmerge", "--quiet", "--update", "--backup=none", po, pot],
               check=True)
out = subprocess.run(["msgfmt", "--check", "--statistics", "-o", "/dev/null",
                      po], capture_output=True, text=True)
print(out.stderr.strip())
sys.exit(0 if out.returncode == 0 and "untranslated" not in out.stderr
         and "fuzzy" not in out.stderr else 1)
