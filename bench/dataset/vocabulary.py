"""Words the generated data is made of: names, meeting titles, places, agendas, devices and time zones."""

from __future__ import annotations

FIRST_NAMES = [
    "Ada",
    "Alan",
    "Amara",
    "Anna",
    "Ben",
    "Carla",
    "Chen",
    "Dana",
    "David",
    "Elif",
    "Emil",
    "Eva",
    "Farid",
    "Grace",
    "Hana",
    "Ines",
    "Ivan",
    "Jonas",
    "Julia",
    "Kai",
    "Kenji",
    "Lara",
    "Leon",
    "Lina",
    "Luca",
    "Maya",
    "Mateo",
    "Mia",
    "Nadia",
    "Noah",
    "Nora",
    "Omar",
    "Paula",
    "Priya",
    "Rosa",
    "Sami",
    "Sofia",
    "Tariq",
    "Theo",
    "Uma",
    "Vera",
    "Yusuf",
]
LAST_NAMES = [
    "Abbott",
    "Becker",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Hansen",
    "Ito",
    "Jensen",
    "Kowalski",
    "Larsen",
    "Moreau",
    "Nakamura",
    "Novak",
    "Okafor",
    "Petrov",
    "Quinn",
    "Rossi",
    "Schmidt",
    "Silva",
    "Tanaka",
    "Usman",
    "Vogel",
    "Weber",
    "Xu",
    "Yilmaz",
    "Zhang",
    "Kaur",
    "Murphy",
]
COMPANIES = [
    "acme.example",
    "northwind.example",
    "contoso.example",
    "fabrikam.example",
    "initech.example",
    "globex.example",
]

MEETING_TOPICS = (
    "Roadmap",
    "Budget",
    "Hiring",
    "Design review",
    "Sprint planning",
    "Retrospective",
    "Customer call",
    "Vendor sync",
    "Security review",
    "Quarterly planning",
    "Onboarding",
    "Architecture",
    "Release readiness",
    "Incident review",
    "Marketing launch",
    "Board prep",
    "Interview",
    "Pricing",
    "Data migration",
    "Support escalation",
)
PERSONAL_TITLES = (
    "Dentist",
    "Gym",
    "Yoga class",
    "Dinner with friends",
    "Parent-teacher meeting",
    "Haircut",
    "Flight to Lisbon",
    "Car service",
    "Piano lesson",
    "Doctor's appointment",
    "Football practice",
    "Book club",
    "Pick up groceries",
    "Call mom",
    "Concert",
)
ALL_DAY_TITLES = (
    "Public holiday",
    "Out of office",
    "Conference",
    "Team offsite",
    "Vacation",
    "Working from home",
    "Deadline: quarterly report",
    "Moving day",
    "School holiday",
    "Company all-hands week",
)
SERIES_TITLES = (
    "Weekly team sync",
    "Daily stand-up",
    "1:1",
    "Engineering all-hands",
    "Sprint review",
    "Office hours",
    "Running club",
    "Monthly business review",
    "Payroll cut-off",
    "Choir rehearsal",
    "Language course",
    "Board meeting",
)
BIRTHDAY_TITLES = ("Birthday", "Anniversary", "Rent due", "Insurance renewal")
ROOMS = (
    "Room 4.12",
    "Big conference room",
    "Huddle room B",
    "Main office, 3rd floor",
    "Cafeteria",
    "Berlin office - Atlas",
    "London office - Thames",
    "Home",
    "Central Station",
    "Downtown clinic, 22 Elm Street",
)
AGENDA_LINES = (
    "Review last week's action items",
    "Status of the open incidents",
    "Decide on the release date",
    "Walk through the new dashboard",
    "Budget for next quarter",
    "Customer feedback from the beta",
    "Hiring pipeline and interview loops",
    "Risks and dependencies",
    "Any other business",
    "Demo of the prototype",
)
TEAMS_FOOTER = (
    "________________________________________________________________________________\n"
    "Microsoft Teams meeting\n"
    "Join on your computer, mobile app or room device\n"
    "Click here to join the meeting <https://teams.microsoft.com/l/meetup-join/19%3ameeting_{code}%40thread.v2/0>\n"
    "Meeting ID: {digits}\n"
    "Passcode: {passcode}\n"
    "Download Teams <https://www.microsoft.com/microsoft-teams/download-app> | Join on the web "
    "<https://www.microsoft.com/microsoft-teams/join-a-meeting>\n"
    "Or call in (audio only)\n"
    "+1 323-555-0142,,{digits}#   United States, Los Angeles\n"
    "Phone Conference ID: {digits}#\n"
    "Find a local number <https://dialin.teams.microsoft.com/> | Reset PIN <https://mysettings.lync.com/pstnconferencing>\n"
    "Learn More <https://aka.ms/JoinTeamsMeeting> | Meeting options <https://teams.microsoft.com/meetingOptions/>\n"
    "________________________________________________________________________________\n"
)
MEET_FOOTER = (
    "-::~:~::~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~::~:~::-\n"
    "Join with Google Meet: https://meet.google.com/{code}\n"
    "Or dial: (US) +1 650-555-0199 PIN: {digits}#\n"
    "More phone numbers: https://tel.meet/{code}?pin={digits}\n"
    "Learn more about Meet at: https://support.google.com/a/users/answer/9282720\n"
    "Please do not edit this section.\n"
    "-::~:~::~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~::~:~::-\n"
)
ZOOM_FOOTER = (
    "Join Zoom Meeting\nhttps://us02web.zoom.us/j/{digits}?pwd={code}\n\nMeeting ID: {digits}\nPasscode: {passcode}\n"
    "One tap mobile\n+16465550123,,{digits}# US (New York)\n"
)

# Zones people live in, weighted towards where calendar users are; a few with unusual offsets.
ZONES = (
    ("Europe/Berlin", 18),
    ("Europe/London", 12),
    ("America/New_York", 16),
    ("America/Los_Angeles", 10),
    ("America/Chicago", 6),
    ("Europe/Paris", 6),
    ("Asia/Tokyo", 5),
    ("Asia/Kolkata", 5),
    ("Australia/Sydney", 4),
    ("America/Sao_Paulo", 4),
    ("Asia/Singapore", 3),
    ("Europe/Istanbul", 2),
    ("Pacific/Auckland", 2),
    ("Asia/Kathmandu", 1),
    ("UTC", 6),
)
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.0 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Mobile Safari/537.36",
)
CALENDAR_NAMES = ("Work", "Personal", "Family", "Team", "Holidays", "On call", "Projects", "Travel", "Sports", "School")
COLORS = ("#039be5", "#7986cb", "#33b679", "#8e24aa", "#e67c73", "#f6bf26", "#f4511e", "#616161", "#3f51b5", "#0b8043")
