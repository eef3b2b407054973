"""GEO_COORDINATE: latitude/longitude pairs (decimal, hemisphere-marked, degrees-minutes-seconds, key=value)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from flowwatch.detection.types import Match, Recognizer

# One coordinate value with a hemisphere: degrees, then minutes (and seconds), or ≥ 2 decimals.
_AFTER_DEGREES = r"(?:°\s?[0-9]{1,2}(?:\.[0-9]+)?['′]\s?(?:[0-9]{1,2}(?:\.[0-9]+)?(?:\"|″|''|′′))?|\.[0-9]{2,}°?)"
_VALUE = f"[0-9]{{1,3}}{_AFTER_DEGREES}"
_HEMISPHERE = r"(?:[NSEW]|北纬|南纬|东经|西经)"
_MARKED_VALUE = f"(?:{_HEMISPHERE}\\s?{_VALUE}|{_VALUE}\\s?[NSEW])"
_MARKED_SEP = r"\s*[,，;；/]?\s*"

# key=value pairs: lat=39.9087&lng=116.3975, "lat": 39.9087, "lng": 116.3975, 纬度：39.9087，经度：116.3975
_LAT_KEY = r"(?:(?i:lat(?:itude)?)|纬度)"
_LNG_KEY = r"(?:(?i:lng|lon(?:g(?:itude)?)?)|经度)"
_KEY_VALUE = r"[\"']?\s*[=:：]?\s*[\"']?[-+]?[0-9]{1,3}\.[0-9]{2,}"
_KEY_SEP = r"[\"']?\s*[&,;，；]?\s*[\"']?"

# Plain decimal pairs need ≥ 4 decimals (≈ 10 m): fewer are prices, versions or measurements.
_PLAIN_VALUE = r"[-+]?[0-9]{1,3}\.[0-9]{4,}°?"

# The pattern opens with a character class (the first character of every form) and only then checks the
# character before it, so that ``re`` can skip ahead to candidate characters (several times faster than a
# leading look-behind); each form goes on with look-behinds that re-check its own first character.
_FIRST = "[-+0-9NSEW北南东西lL纬经]"
_MARKED_REST = (
    f"(?:(?:(?<=[NSEW])|(?<=[北南])纬|(?<=[东西])经)\\s?{_VALUE}"
    f"|(?<=[0-9])[0-9]{{0,2}}{_AFTER_DEGREES}\\s?[NSEW]){_MARKED_SEP}{_MARKED_VALUE}"
)
_KEYED_REST = (
    f"(?:(?:(?<=[lL])(?i:at(?:itude)?)|(?<=纬)度){_KEY_VALUE}{_KEY_SEP}{_LNG_KEY}"
    f"|(?:(?<=[lL])(?i:ng|on(?:g(?:itude)?)?)|(?<=经)度){_KEY_VALUE}{_KEY_SEP}{_LAT_KEY}){_KEY_VALUE}"
)
_PLAIN_REST = f"(?:(?<=[-+])[0-9]{{1,3}}|(?<=[0-9])[0-9]{{0,2}})\\.[0-9]{{4,}}°?\\s*[,，]\\s*{_PLAIN_VALUE}"

# Parsing the parts of a match (the pattern has already checked the shape).
_MARKED_PART = re.compile(f"(?P<pre>{_HEMISPHERE})\\s?(?P<v1>{_VALUE})|(?P<v2>{_VALUE})\\s?(?P<post>[NSEW])")
_SEXAGESIMAL = re.compile(r"([0-9.]+)°?\s?(?:([0-9.]+)['′]\s?([0-9.]+)?)?")
_KEYED_PART = re.compile(r"(纬度|经度|[A-Za-z]+)[^0-9+-]*([-+]?[0-9.]+)")
_PAIR_SEPARATOR = re.compile("[,，]")
_NUMBER_BEFORE = re.compile(r"[0-9.]\s*[,，]\s*$")
_NUMBER_AFTER = re.compile(r"\s*[,，]\s*[-+]?[0-9]")
_SIGN = {"N": 1, "S": -1, "北纬": 1, "南纬": -1, "E": 1, "W": -1, "东经": 1, "西经": -1}
_LATITUDES = frozenset({"N", "S", "北纬", "南纬"})


class GeoCoordinateRecognizer(Recognizer):
    """A latitude/longitude pair; one match spans the whole pair.

    Formats (WGS-84 or the GCJ-02/BD-09 offsets of Chinese map APIs, which stay in the same ranges):

    * decimal degrees, lat,lng or lng,lat (高德/百度 APIs write ``116.3975,39.9087``), comma or ``，``:
      ``39.9087, 116.3975`` — both values need ≥ 4 decimals; a pair inside a longer comma-separated list
      of numbers is a data series and is skipped;
    * with hemispheres (letters before or after, or 北纬/南纬/东经/西经): ``N39.9087 E116.3975``,
      ``39.9087°N, 116.3975°E``, ``北纬39.9087°，东经116.3975°`` (≥ 2 decimals);
    * degrees, minutes, seconds (ISO 6709 sexagesimal, ``'``/``′`` and ``"``/``″``):
      ``39°54'31"N 116°23'51"E``, ``北纬39°54′31″ 东经116°23′51″``;
    * key=value: ``lat=39.9087&lng=116.3975``, ``"lat": 39.9087, "lng": 116.3975``,
      ``纬度：39.9087，经度：116.3975`` (either order, ≥ 2 decimals).

    Validation: |latitude| ≤ 90, |longitude| ≤ 180, minutes and seconds < 60, one latitude and one
    longitude; (0, 0) is rejected. Score 0.75 when the point lies in mainland China's bounding box
    (latitude 3–54, longitude 73–136; Natural Earth extent rounded out), 0.55 elsewhere. A position is
    not a person's identifier by itself: no subject key.
    """

    min_digits = 6
    entity = "GEO_COORDINATE"
    pattern = re.compile(
        f"{_FIRST}(?<![0-9A-Za-z.+-]{_FIRST})"
        f"(?:(?P<marked>{_MARKED_REST})|(?P<keyed>{_KEYED_REST})|(?P<plain>{_PLAIN_REST}))"
        r"(?![0-9A-Za-z])(?!\.[0-9])"
    )

    def could_match(self, text: str, digits: int) -> bool:
        """At least 6 ASCII digits and a ``.`` or ``°``."""
        return digits >= self.min_digits and ("." in text or "°" in text)

    def analyze(self, text: str) -> Iterator[Match]:
        """Validated pairs; plain decimal pairs inside a longer list of numbers are skipped."""
        for m in self.pattern.finditer(text):
            if m.group("plain") and (
                _NUMBER_BEFORE.search(text, max(0, m.start() - 4), m.start()) or _NUMBER_AFTER.match(text, m.end())
            ):
                continue
            score = _score(m)
            if score > 0:
                yield Match(self.entity, m.start(), m.end(), score, m.group(0))

    def validate(self, value: str) -> float:
        """0.75 for a valid pair in China's bounding box, 0.55 elsewhere, 0 when not a valid pair."""
        m = self.pattern.fullmatch(value)
        return _score(m) if m else 0.0


def _score(m: re.Match[str]) -> float:
    point = _point(m)
    if point is None:
        return 0.0
    lat, lng = point
    if not (abs(lat) <= 90 and abs(lng) <= 180) or lat == lng == 0:
        return 0.0
    return 0.75 if 3 <= lat <= 54 and 73 <= lng <= 136 else 0.55


def _point(m: re.Match[str]) -> tuple[float, float] | None:
    """(latitude, longitude) of a pattern match, or None when it is not one of each."""
    value = m.group(0)
    if m.group("plain"):
        first, second = (float(v.strip().rstrip("°")) for v in _PAIR_SEPARATOR.split(value))
        if abs(first) > 90 or (3 <= second <= 54 and 73 <= first <= 136):
            return second, first  # lng,lat: as the Chinese map APIs write it
        return first, second
    if m.group("keyed"):
        lat = lng = None
        for key, number in _KEYED_PART.findall(value):
            if key == "纬度" or key.lower().startswith("lat"):
                lat = float(number)
            else:
                lng = float(number)
        return (lat, lng) if lat is not None and lng is not None else None
    return _marked_point(value)


def _marked_point(value: str) -> tuple[float, float] | None:
    """(latitude, longitude) of a hemisphere-marked pair, or None unless it names one of each."""
    lat: float | None = None
    lng: float | None = None
    for part in _MARKED_PART.finditer(value):
        hemisphere = part.group("pre") or part.group("post")
        sexagesimal = _SEXAGESIMAL.match(part.group("v1") or part.group("v2"))
        assert sexagesimal is not None  # the value matched _VALUE
        degrees, minutes, seconds = (float(g or 0) for g in sexagesimal.groups())
        if minutes >= 60 or seconds >= 60:
            return None
        degrees = (degrees + minutes / 60 + seconds / 3600) * _SIGN[hemisphere]
        if hemisphere in _LATITUDES and lat is None:
            lat = degrees
        elif hemisphere not in _LATITUDES and lng is None:
            lng = degrees
        else:
            return None
    return (lat, lng) if lat is not None and lng is not None else None
