from taskonomy.cli import main

main()
