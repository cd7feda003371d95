"""RAMOS workflow: plan the RAM budget, lay out the VHD per boot chain, generate the Windows
scripts, and run a declarative recipe."""
