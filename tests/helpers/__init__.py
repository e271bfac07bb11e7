"""What several test modules share: tiny runs, fake data sets, steps and spies."""
