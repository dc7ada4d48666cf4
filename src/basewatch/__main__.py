from basewatch.cli.main import main

raise SystemExit(main())
