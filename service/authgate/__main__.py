from authgate.process.cli import main

raise SystemExit(main())
