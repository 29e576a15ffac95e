"""The calendar part of a meeting's email, in iCalendar scheduling terms (RFC 5546): METHOD REQUEST
(a new or moved meeting, its SEQUENCE raised on each move) or CANCEL, the same UID throughout, the
Inclusion Service as ORGANIZER and everyone the email goes to as an ATTENDEE."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vCalAddress

from domain.email_models import CalendarInvite

SENDER_NAME = "Inclusion Service"
LOCAL_TIMEZONE = ZoneInfo("Europe/London")


def build_ics(invite: CalendarInvite, organizer: str, attendees: list[tuple[str, str | None]] = ()) -> str:
    """`attendees`: (address, display name or None) of each person invited."""
    starts = invite.starts_at
    if starts.tzinfo is None:
        starts = starts.replace(tzinfo=LOCAL_TIMEZONE)
    starts = starts.astimezone(UTC)
    cal = Calendar()
    cal.add("prodid", "-//Inclusion Service//casework//EN")
    cal.add("version", "2.0")
    cal.add("method", invite.method)
    event = Event()
    event.add("uid", invite.uid)
    event.add("dtstamp", datetime.now(UTC))
    event.add("dtstart", starts)
    event.add("dtend", starts + timedelta(minutes=invite.duration_minutes))
    event.add("summary", invite.summary)
    event.add("location", invite.location)
    event.add("sequence", invite.sequence)
    event.add("status", "CANCELLED" if invite.method == "CANCEL" else "CONFIRMED")
    org = vCalAddress(f"mailto:{organizer}")
    org.params["cn"] = SENDER_NAME
    event["organizer"] = org
    for address, name in attendees:
        attendee = vCalAddress(f"mailto:{address}")
        if name:
            attendee.params["cn"] = name
        attendee.params["role"] = "REQ-PARTICIPANT"
        attendee.params["cutype"] = "INDIVIDUAL"
        if invite.method == "REQUEST":
            attendee.params["partstat"] = "NEEDS-ACTION"
            attendee.params["rsvp"] = "TRUE"
        event.add("attendee", attendee, encode=0)
    cal.add_component(event)
    return cal.to_ical().decode("utf-8")
