"""`python -m reports`: build a run's report, or compare two runs."""

from reports.cli import main

raise SystemExit(main())
