"""One recognizer class per canonical entity (docs/detection.md, "Entities").

``ALL_RECOGNIZERS`` is in order of identifying strength: a finding counts a record's person by the first
type in this order that the record holds (resident ID before mobile before e-mail …).
"""

from flowwatch.detection.recognizers.address import AddressRecognizer
from flowwatch.detection.recognizers.bank_card import BankCardRecognizer
from flowwatch.detection.recognizers.biometric import BiometricRecognizer
from flowwatch.detection.recognizers.date_of_birth import DateOfBirthRecognizer
from flowwatch.detection.recognizers.email import EmailRecognizer
from flowwatch.detection.recognizers.geo_coordinate import GeoCoordinateRecognizer
from flowwatch.detection.recognizers.hk_id import HkIdRecognizer
from flowwatch.detection.recognizers.hmt_permit import HmtPermitRecognizer
from flowwatch.detection.recognizers.ip_address import IpAddressRecognizer
from flowwatch.detection.recognizers.landline import LandlineRecognizer
from flowwatch.detection.recognizers.licence_plate import LicencePlateRecognizer
from flowwatch.detection.recognizers.medical_term import MedicalTermRecognizer
from flowwatch.detection.recognizers.mo_id import MoIdRecognizer
from flowwatch.detection.recognizers.mobile_phone import MobilePhoneRecognizer
from flowwatch.detection.recognizers.passport import PassportRecognizer
from flowwatch.detection.recognizers.person import PersonRecognizer
from flowwatch.detection.recognizers.religious_belief import ReligiousBeliefRecognizer
from flowwatch.detection.recognizers.resident_id import ResidentIdRecognizer
from flowwatch.detection.recognizers.tw_id import TwIdRecognizer
from flowwatch.detection.recognizers.uscc import UsccRecognizer
from flowwatch.detection.types import Recognizer

ALL_RECOGNIZERS: tuple[type[Recognizer], ...] = (
    ResidentIdRecognizer,
    PassportRecognizer,
    HkIdRecognizer,
    MoIdRecognizer,
    TwIdRecognizer,
    HmtPermitRecognizer,
    MobilePhoneRecognizer,
    BankCardRecognizer,
    EmailRecognizer,
    LandlineRecognizer,
    PersonRecognizer,
    AddressRecognizer,
    DateOfBirthRecognizer,
    LicencePlateRecognizer,
    GeoCoordinateRecognizer,
    IpAddressRecognizer,
    UsccRecognizer,
    MedicalTermRecognizer,
    ReligiousBeliefRecognizer,
    BiometricRecognizer,
)

__all__ = [
    "ALL_RECOGNIZERS",
    "AddressRecognizer",
    "BankCardRecognizer",
    "BiometricRecognizer",
    "DateOfBirthRecognizer",
    "EmailRecognizer",
    "GeoCoordinateRecognizer",
    "HkIdRecognizer",
    "HmtPermitRecognizer",
    "IpAddressRecognizer",
    "LandlineRecognizer",
    "LicencePlateRecognizer",
    "MedicalTermRecognizer",
    "MoIdRecognizer",
    "MobilePhoneRecognizer",
    "PassportRecognizer",
    "PersonRecognizer",
    "ReligiousBeliefRecognizer",
    "ResidentIdRecognizer",
    "TwIdRecognizer",
    "UsccRecognizer",
]
