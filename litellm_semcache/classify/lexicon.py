"""The word lists the guard reads: negations, antonyms, polar prefixes, number words, dates,
units, quantifiers, names that decide an answer, and filler that never does.

Kept apart from the rules (:mod:`.guard`) so that a list can grow without touching a rule.
"""

from __future__ import annotations

NEGATIONS = frozenset(
    "not no never without none nobody nothing neither nor cannot cant dont doesnt didnt isnt "
    "arent wasnt werent wont wouldnt shouldnt couldnt hasnt havent hadnt mustnt neednt "
    "unable avoid prevent".split()
)
ANTONYM_PAIRS = """
on off open close open closed opened closed enable disable enabled disabled start stop start end
begin end increase decrease increasing decreasing raise lower add remove added removed before after
above below max min maximum minimum more less more fewer most least higher lower highest lowest
greater less greater smaller larger smaller largest smallest bigger smaller biggest smallest big small
long short longest shortest longer shorter fast slow faster slower fastest slowest best worst better worse
buy sell buying selling bought sold up down upload download import export input output true false
yes no allow deny allow block allowed blocked accept reject include exclude inner outer left right
first last ascending descending asc desc push pull read write win lose won lost pros cons
advantages disadvantages hot cold positive negative success failure succeed fail public private
internal external local remote client server frontend backend old new oldest newest older newer
earliest latest past future sync async synchronous asynchronous send receive encode decode
serialize deserialize connect disconnect plus minus add subtract multiply divide male female
men women man woman north south east west morning evening day night summer winter cheap expensive
cheapest most safe unsafe lowercase uppercase horizontal vertical row column rows columns create delete
create drop insert delete show hide visible hidden light dark online offline forward backward inbound
outbound ingress egress debit credit borrow lend over under overweight underweight inside outside
internal external maximize minimize maximise minimise import export entry exit arrival departure
profit loss gain loss bullish bearish long short rise fall rising falling import export
good bad key value get post stack queue push pop prefix suffix head tail mean median union
intersection local global absolute relative encrypt decrypt width height lend borrow
happy sad happy unhappy love hate like dislike easy hard easy difficult simple complex
strong weak rich poor young old alive dead healthy sick early late full empty clean dirty
loud quiet tall short thick thin wet dry heavy light husband wife mother father brother sister
son daughter boy girl always never friend enemy pass fail agree disagree high low top bottom free allocate large small
upper lower ahead behind wake sleep awake asleep grow shrink hire fire lock unlock mount unmount
join leave arrive leave come go enter exit expand collapse freeze melt heat cool warm cool
tighten loosen strengthen weaken attach detach approve reject include omit deficiency excess
shortage surplus senior junior beginner advanced beginner expert novice expert parent child
adult child teacher student employer employee landlord tenant buyer seller lender borrower
debtor creditor plaintiff defendant sender recipient deposit withdraw deposit withdrawal
income expense asset liability bull bear call put bid ask increase reduce accelerate decelerate
compliment insult sunrise sunset light heavy charge discharge admit discharge pause resume
mute unmute follow unfollow subscribe unsubscribe activate deactivate arm disarm
""".split()
PREFIX_PAIRS = (("hyper", "hypo"), ("over", "under"), ("pre", "post"), ("inter", "intra"),
                 ("micro", "macro"), ("max", "min"), ("up", "down"), ("in", "out"))
PRIVATIVE_SUFFIXES = ("free", "less")
# Prefixes that flip a stem's meaning when swapped for one another or for none
# (encrypt/decrypt, include/exclude, dehydration/overhydration, productive/unproductive).
POLAR_PREFIXES = frozenset(
    "un in im il ir dis de non anti mis over under hyper hypo pre post en em ex pro sub super "
    "mono poly uni multi inter intra micro macro up down out".split())
# One name per unit, whatever the abbreviation or spelling.
UNIT_NAMES = {"min": "minute", "mins": "minute", "minute": "minute", "hr": "hour", "hrs": "hour",
              "sec": "second", "secs": "second", "km": "kilometer", "kilometre": "kilometer",
              "kilometer": "kilometer", "metre": "meter", "litre": "liter", "kg": "kilogram",
              "lb": "pound", "lbs": "pound", "dollar": "usd", "euro": "eur"}
NEGATING_PREFIXES = ("un", "dis", "in", "im", "il", "ir", "non", "de", "anti", "mis")
NUMBER_WORDS = {
    word: str(value) for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split())
} | {"thirty": "30", "forty": "40", "fifty": "50", "hundred": "100", "thousand": "1000",
     "million": "1000000", "billion": "1000000000", "half": "0.5", "quarter": "0.25",
     "double": "x2", "twice": "x2", "triple": "x3", "once": "x1"}
ORDINALS = {word: f"{value}th" for value, word in enumerate(
    "zeroth first second third fourth fifth sixth seventh eighth ninth tenth".split())}
TEMPORAL = frozenset(
    "today tomorrow yesterday tonight now currently current presently recent recently latest next "
    "previous last ago upcoming annual annually monthly weekly daily hourly quarterly january "
    "february march april june july august september october november december monday tuesday "
    "wednesday thursday friday saturday sunday q1 q2 q3 q4 h1 h2 ytd".split()
)
IMPLICIT_NOW = frozenset({"now"})
TEMPORAL_SYNONYMS = {"current": "now", "currently": "now", "presently": "now", "today": "now",
                      "recently": "recent", "latest": "recent"}
UNITS = frozenset(
    "usd eur gbp jpy cny inr chf cad aud btc eth dollar dollars euro euros pound pounds yen yuan "
    "rupee rupees km kilometers kilometres mile miles meter meters metre metres feet foot inch "
    "inches cm mm kg kilogram kilograms lb lbs gram grams ounce ounces celsius fahrenheit kelvin "
    "liter liters litre litres gallon gallons mph kmh bytes kb mb gb tb kib mib gib ms seconds "
    "min mins hr hrs sec secs minute hour "
    "minutes hours days weeks months years percent bps".split()
)
QUANTIFIERS = frozenset(
    "all every each some any only single both entire whole many few several most none "
    "always sometimes often rarely usually per".split()
)
QUANTIFIER_SYNONYMS = {"every": "all", "each": "all", "entire": "all", "whole": "all"}
# Lower-case names that still decide the answer (languages, platforms, natural languages).
LEXICON = frozenset(
    "python java javascript typescript golang go rust ruby php perl kotlin swift scala haskell "
    "c c++ c# cpp csharp fortran cobol lua r matlab julia dart elixir erlang clojure bash zsh "
    "powershell sql mysql postgres postgresql sqlite mongodb redis kafka spark hadoop pandas numpy "
    "react vue angular svelte django flask fastapi rails spring node nodejs deno express nextjs "
    "linux windows macos ios android ubuntu debian fedora centos docker kubernetes k8s terraform "
    "aws azure gcp git svn html css json yaml xml csv toml tensorflow pytorch keras "
    "english french german spanish italian portuguese chinese japanese korean russian arabic "
    "hindi dutch swedish polish turkish greek hebrew latin".split()
)
FILLER = frozenset(
    "a an the please kindly can could would will should you me my i we us our your to of in "
    "on for with about is are was were be been do does did how what which who whom whose why "
    "when where tell explain show help give know want need like way ways thing things something "
    "quick quickly simple simply easy easily exactly actually really basically briefly example "
    "examples question hey hi hello thanks thank ok okay it its this that these those there here "
    "and or but so if then than as at by from into onto it's what's how's whats hows im i'm get "
    "got make use using used find out some any just also very much many mean means meaning "
    "difference between describe definition define best good proper correct recommended preferred "
    "common standard have has had doing done whether am be been being item items stuff "
    "piece running called named possible able thx please sorry bother appreciate lol omg "
    "cheers dear i'd i'll i've you're we're".split()
) - NEGATIONS - QUANTIFIERS


def build_antonyms() -> dict[str, frozenset[str]]:
    table: dict[str, set[str]] = {}
    for left, right in zip(ANTONYM_PAIRS[::2], ANTONYM_PAIRS[1::2]):
        table.setdefault(left, set()).add(right)
        table.setdefault(right, set()).add(left)
    return {word: frozenset(others) for word, others in table.items()}


ANTONYMS = build_antonyms()

# Words that only dress a request up (added on one side, they change nothing it asks).
COURTESY = frozenset(
    "sorry ask asking wondering wonder curious quick question answer answering answers help "
    "helping appreciate appreciated advance grateful laugh hello hi hey thanks thank please "
    "kindly dear bot assistant buddy mate lol haha btw cheers awesome hope hoping mind bother "
    "random".split())
