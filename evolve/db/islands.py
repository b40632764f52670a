"""The ``members`` and ``cells`` tables: who lives on which island, and the MAP-Elites cell each
island keeps per feature key (docs/evolve.md, Islands and MAP-Elites)."""

from __future__ import annotations


class IslandTables:
    """Methods on ``members`` and ``cells`` (mixed into :class:`evolve.db.DB`)."""

    def island_members(self, island: int) -> list:
        """(id, public_fitness, code, code_norm_sha, migrant) of the island's members, by id."""
        return self.conn.execute(
            "SELECT p.id, p.public_fitness, p.code, p.code_norm_sha, m.migrant FROM members m JOIN programs p ON p.id=m.program_id "
            "WHERE m.run_id=? AND m.island=? ORDER BY p.id", (self.run_id, island)).fetchall()

    def island_has_code(self, island: int, code_norm_sha: str) -> bool:
        return self.conn.execute(
            "SELECT 1 FROM members m JOIN programs p ON p.id=m.program_id WHERE m.run_id=? AND m.island=? AND p.code_norm_sha=?",
            (self.run_id, island, code_norm_sha)).fetchone() is not None

    def insert_member(self, island: int, pid: int, migrant: int) -> None:
        self.conn.execute("INSERT INTO members(run_id, island, program_id, migrant) VALUES (?,?,?,?)", (self.run_id, island, pid, migrant))

    def cell_occupant(self, island: int, key: str):
        """(program_id, public_fitness) of the cell's occupant, or None."""
        return self.conn.execute("SELECT c.program_id, p.public_fitness FROM cells c JOIN programs p ON p.id=c.program_id "
                                 "WHERE c.run_id=? AND c.island=? AND c.cell_key=?", (self.run_id, island, key)).fetchone()

    def set_cell(self, island: int, key: str, pid: int) -> None:
        self.conn.execute("INSERT INTO cells(run_id, island, cell_key, program_id) VALUES (?,?,?,?) "
                          "ON CONFLICT(run_id, island, cell_key) DO UPDATE SET program_id=excluded.program_id",
                          (self.run_id, island, key, pid))

    def cell_programs(self, island: int) -> list[int]:
        """The island's elites: the occupant of each of its cells, by cell key."""
        return [r[0] for r in self.conn.execute("SELECT program_id FROM cells WHERE run_id=? AND island=? ORDER BY cell_key",
                                                (self.run_id, island))]

    def clear_island(self, island: int) -> None:
        self.conn.execute("DELETE FROM members WHERE run_id=? AND island=?", (self.run_id, island))
        self.conn.execute("DELETE FROM cells WHERE run_id=? AND island=?", (self.run_id, island))
