"""One recognizer class per canonical entity (DESIGN.md "Canonical PI entity names").

``ALL_RECOGNIZERS`` is in order of identifying strength: a finding counts a record's person by the first
type in this order that the record holds (resident ID before mobile before e-mail …).
"""

from flowwatch.detection.recognizers.address import AddressRecognizer
from flowwatch.detection.recognizers.bank_card import BankCardRecognizer
from flowwatch.detection.recognizers.biometric import BiometricRecognizer
from flowwatch.detection.recognizers.date_of_birth import DateOfBirthRecognizer
from flowwatch.detection.recognizers.email import EmailRecognizer
from flowwatch.detection.recognizers.medical_term import MedicalTermRecognizer
from flowwatch.detection.recognizers.mobile_phone import MobilePhoneRecognizer
from flowwatch.detection.recognizers.person import PersonRecognizer
from flowwatch.detection.recognizers.religious_belief import ReligiousBeliefRecognizer
from flowwatch.detection.recognizers.resident_id import ResidentIdRecognizer
from flowwatch.detection.types import Recognizer

ALL_RECOGNIZERS: tuple[type[Recognizer], ...] = (
    ResidentIdRecognizer,
    MobilePhoneRecognizer,
    BankCardRecognizer,
    EmailRecognizer,
    PersonRecognizer,
    AddressRecognizer,
    DateOfBirthRecognizer,
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
    "MedicalTermRecognizer",
    "MobilePhoneRecognizer",
    "PersonRecognizer",
    "ReligiousBeliefRecognizer",
    "ResidentIdRecognizer",
]
