"""Hand-written Hypothesis strategies for the Run:ai Users and Tenants API: pure generators, no I/O.

- `filter_by`: the `filterBy` grammar (CONTRACT LIST-2, LIST-3), valid terms and near misses.
- `emails`: emails inside and just outside the published pattern and length bounds (USR-2).
- `pagination`: `limit` and `offset` at, inside and outside their bounds (LIST-6).
- `passwords`: new passwords the suite sets for its users (USR-10), none a word of its own reports.
- `tenants`: tenant names inside and outside the published pattern (TEN-2).
"""
