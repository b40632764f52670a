"""How equilibria are found: exact best response / NashConv, the CFR family, PSRO."""
