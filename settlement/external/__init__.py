"""Outside systems the card centre consults, simulated with their own data files.

They are not the settlement service's tables: the police population register
(``police_register``, a SQLite file of the public security bureau) and the
partner bank's customer records (``bank_records``, a JSON file per bank) are
asked questions through small query interfaces, exactly as step 3 of card
production (数据比对, issuance.md) asks the real ones.
"""
