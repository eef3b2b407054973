"""PRC holiday calendars beyond the years ``chinese_calendar`` covers: statutory holidays computed from the
全国年节及纪念日放假办法 (``statutory``), and the State Council's yearly arrangements (调休) that an operator
loads from a file (``arrangements``). ``flowwatch.workdays`` combines them (docs/law.md, "Calendars")."""
