from visdom_chaos.cli import main

raise SystemExit(main())
