"""``python -m resilient_responses``: the same as the ``resilient-responses`` command."""

from resilient_responses.cli import main

raise SystemExit(main())
