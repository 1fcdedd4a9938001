"""Word lists the generator draws realistic (and deliberately international) names from."""

FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
    "Charles", "Karen", "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Sandra", "Mark",
    "Ashley", "Steven", "Emily", "Andrew", "Michelle", "Joshua", "Amanda", "Kevin", "Melissa",
    "Brian", "Stephanie", "George", "Rebecca", "Priya", "Rahul", "Ananya", "Arjun", "Wei",
    "Mei", "Hiroshi", "Yuki", "Sakura", "Kenji", "Min-jun", "Ji-woo", "Olga", "Dmitri", "Ivan",
    "Anastasia", "José", "María", "Jürgen", "Zoë", "Søren", "Łukasz", "Björn", "Åsa", "François",
    "Hélène", "Chloé", "Noël", "Ahmed", "Fatima", "Omar", "Aisha", "Mohammed", "Yusuf",
    "Chidi", "Ngozi", "Kwame", "Thandiwe", "Siobhán", "Seán", "Niamh", "Ólafur", "Dagný",
    "Ines", "João", "Gonçalo", "Tomás", "Małgorzata", "Bartosz", "Zdeněk", "Ümit", "Çağla",
    "Nguyễn", "Thảo", "Anh", "Lars", "Ingrid", "Mateo", "Lucía", "Valentina", "Santiago",
    "Aleksandra", "Nikolai", "Émilie", "Raphaël", "Giulia", "Lorenzo", "Chiara", "Matteo",
)

LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "O'Brien", "O'Connor", "McDonald", "MacLeod", "Müller", "Schröder", "Weiß", "Groß",
    "Fischer", "Jäger", "Kowalski", "Wiśniewski", "Wójcik", "Nowak", "Dvořák", "Novák",
    "Søndergaard", "Jørgensen", "Åberg", "Öberg", "Lindqvist", "Núñez", "Peña", "Muñoz",
    "Gonçalves", "Conceição", "Lefèvre", "Béranger", "Dupont", "Rossi", "Bianchi", "Esposito",
    "Ivanov", "Petrov", "Smirnov", "Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Kim",
    "Park", "Choi", "Wang", "Li", "Zhang", "Liu", "Chen", "Patel", "Sharma", "Singh", "Gupta",
    "Iyer", "Okafor", "Mensah", "Abubakar", "Van der Berg", "de Vries", "van Dijk", "Yılmaz",
    "Öztürk", "Al-Farsi", "Haddad", "Cohen", "Levi", "Trần", "Lê", "Phạm", "Ó Súilleabháin",
    "Hernández-López", "Smith-Jones",
)

COMPANY_FIRST = (
    "Blue", "Red", "Silver", "Golden", "Northern", "Southern", "Eastern", "Western", "Pacific",
    "Atlantic", "Summit", "Pinnacle", "Apex", "Vertex", "Horizon", "Cascade", "Granite",
    "Cedar", "Maple", "Oak", "Pine", "River", "Lake", "Harbor", "Bridge", "Beacon", "Lighthouse",
    "Falcon", "Eagle", "Hawk", "Phoenix", "Orion", "Nova", "Stellar", "Quantum", "Fusion",
    "Vector", "Matrix", "Nexus", "Synergy", "Catalyst", "Momentum", "Velocity", "Agile",
    "Bright", "Clear", "Smart", "Digital", "Cloud", "Data", "Logic", "Insight", "Vision",
    "Prime", "Core", "True", "Bold", "Swift", "Iron", "Copper", "Crystal", "Emerald", "Sapphire",
    "Nordlicht", "Müller", "Zürich", "Société", "Ærø", "São Paulo", "Kraków", "Málaga",
    "Île", "Øresund", "Côte", "Straße", "Tōkyō", "Smith &", "Baker &", "Jones &",
)

COMPANY_SECOND = (
    "Consulting", "Solutions", "Systems", "Technologies", "Partners", "Group", "Digital",
    "Labs", "Works", "Networks", "Software", "Analytics", "Automation", "Integration",
    "Services", "Advisory", "Dynamics", "Innovations", "Ventures", "Holdings", "Associates",
    "Interactive", "Logistics", "Data", "Cloud", "Process", "Workflow", "IT", "Infotech",
    "Computing", "Informatik", "Systemhaus", "Conseil", "Beratung", "Soluciones", "Sistemas",
    "Tecnologia", "Informatique", "Digitale", "Tech", "Engineering", "Strategies", "Media",
    "Design", "Global", "International", "Industries", "Enterprises", "Capital", "Office",
    "Foundry", "Forge", "Studio", "Collective", "Alliance", "Connect", "One", "Point", "Edge",
    "Stream", "Wave", "Path", "Gate", "Hub", "Base", "Line", "Scale", "Shift", "Sync", "Sons",
)

LEGAL_SUFFIXES = (
    "Inc.", "Inc", "LLC", "Ltd", "Ltd.", "Limited", "GmbH", "AG", "S.A.", "Pty Ltd", "B.V.",
    "Corp.", "Co., Ltd.", "S.r.l.", "Oy", "AB", "K.K.", "Pvt. Ltd.", "SAS", "plc",
)

TLDS = ("com", "com", "com", "net", "io", "co.uk", "de", "fr", "com.au", "co.jp", "nl", "ca",
        "in", "com.br", "es", "it", "se", "pl", "ch", "co.za")

PUBLIC_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "icloud.com",
                  "gmx.de", "yahoo.co.jp", "qq.com")

VENDOR_DOMAIN = "nintex.com"

TITLES = ("Consultant", "Senior Consultant", "Solution Architect", "Developer", "Sales Manager",
          "Account Executive", "Partner Manager", "CTO", "CEO", "Project Manager",
          "Pre-Sales Engineer", "Technical Lead", "Marketing Manager", "Trainer", None)

CITIES = (
    ("Seattle", "United States"), ("Austin", "United States"), ("Chicago", "United States"),
    ("Toronto", "Canada"), ("London", "United Kingdom"), ("Manchester", "United Kingdom"),
    ("München", "Germany"), ("Berlin", "Germany"), ("Paris", "France"), ("Lyon", "France"),
    ("Madrid", "Spain"), ("Milano", "Italy"), ("Amsterdam", "Netherlands"),
    ("Stockholm", "Sweden"), ("Kraków", "Poland"), ("Zürich", "Switzerland"),
    ("Sydney", "Australia"), ("Melbourne", "Australia"), ("Auckland", "New Zealand"),
    ("Tokyo", "Japan"), ("Singapore", "Singapore"), ("Bengaluru", "India"),
    ("São Paulo", "Brazil"), ("Ciudad de México", "Mexico"), ("Johannesburg", "South Africa"),
    ("Dubai", "United Arab Emirates"),
)

REGIONS = ("North America", "LATAM", "EMEA", "UK & Ireland", "DACH", "APAC", "ANZ", "Japan")

PRODUCTS = ("Nintex Workflow", "Nintex Automation Cloud", "Nintex K2", "Nintex RPA",
            "Nintex Process Manager", "Nintex DocGen", "Nintex Forms", "Nintex Analytics",
            "Nintex eSign", "Nintex Skuid")

COURSE_KINDS = ("Fundamentals", "Essentials", "Advanced Topics", "Administrator",
                "Developer Certification", "Solution Architect Certification",
                "Sales Accreditation", "Pre-Sales Technical Accreditation", "What's New",
                "Troubleshooting", "Best Practices", "Hands-on Lab", "Quick Start",
                "Migration Guide", "Security Deep Dive")

UNRELATED_GROUPS = ("Internal Staff", "Beta Testers", "Customers - EMEA", "Customers - AMER",
                    "Customers - APAC", "Webinar Attendees", "Nintex Employees",
                    "Trial Users", "Community Champions", "Conference 2024", "Instructors",
                    "Support Engineers", "Customer Success", "Students", "Former Partners")
