"""One recognizer class per canonical entity (DESIGN.md "Canonical PI entity names")."""

from flowwatch.detection.recognizers.bank_card import BankCardRecognizer
from flowwatch.detection.recognizers.email import EmailRecognizer
from flowwatch.detection.recognizers.mobile_phone import MobilePhoneRecognizer
from flowwatch.detection.recognizers.resident_id import ResidentIdRecognizer

__all__ = ["BankCardRecognizer", "EmailRecognizer", "MobilePhoneRecognizer", "ResidentIdRecognizer"]
