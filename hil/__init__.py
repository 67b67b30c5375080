"""Hardware-in-the-loop: the same pytest-embedded suites against real boards and virtual ones.

- `hil/boards.yaml`: board facts (budgets, clock, flash tool, latency bound).
- `python -m hil.flash`: esptool / arduino-cli with retries and one-line failures.
- `python -m hil.virtual`: a virtual board on a pty that speaks firmware/PROTOCOL.md.
- `hil/client.py`: the host side of the protocol; `hil/lock.py`: one job per port.
- `hil/test_smoke.py`, `hil/test_acceptance.py`: the suites (`pytest hil --embedded-services
  serial --port PORT --board B`); `python -m hil.run_virtual`: both against virtual boards.
"""
