"""What is played: OpenSpiel games, compiled game trees, matrix games, preference games and
the Werewolf game."""
