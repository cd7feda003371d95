from diskkit.cli.__main__ import main

raise SystemExit(main())
