"""``python -m resilient_responses``: the same as the ``resilient-responses`` command."""

from resilient_responses._cli import main

raise SystemExit(main())
