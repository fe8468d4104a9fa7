# Shortcuts; dev.py does the work (and the set-up) with only Python installed.
PY ?= python3
.PHONY: demo test check bench
demo:
	$(PY) dev.py demo
test:
	$(PY) dev.py test
check:
	$(PY) dev.py check
bench:
	$(PY) dev.py bench
