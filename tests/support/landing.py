"""Hand-written landing files for ingest tests: good rows of every source mixed with many kinds of bad rows.

`write_landing(root)` writes them; `BAD_LINES` holds every bad row with the rule that must catch it (each carries a
unique marker id), `expected_counts()` per source the rows read / accepted / quarantined / duplicate, and
`mapping_file(root)` writes the mapping of the whitespace-separated POS transactions files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

AS_OF = "2025-01-01"
ORDERS_HEADER = (
    "order_id,customer_id,order_ts,channel,currency,gross_amount,discount_amount,shipping_cost,"
    "cost_of_goods,items,product_category"
)
REFUNDS_HEADER = "refund_id,order_id,customer_id,refund_ts,amount"
CUSTOMERS_HEADER = "customer_id,signup_ts,acquisition_channel,country,email,name,marketing_consent"
POS_HEADER = "kunde   datum       betrag  stueck"
ERASED_ID = "C3"  # the subject of the erasure test: present in every source, good and bad rows


@dataclass(frozen=True)
class Bad:
    source: str
    rule: str
    marker: str  # a string only this bad row's raw record contains


def order(oid: str, cid: str = "C1", ts: str = "2024-03-01T10:00:00Z", **fields: str) -> str:
    row = {
        "channel": "web",
        "currency": "EUR",
        "gross": "10.00",
        "discount": "0",
        "shipping": "0",
        "cogs": "5",
        "items": "1",
        "category": "home",
    } | fields
    return ",".join([oid, cid, ts, *row.values()])


def _json(**row: object) -> str:
    return json.dumps(row)


def session(sid: str, cid: str = "C1", ts: str = "2024-03-01T09:00:00Z", pages: object = 3) -> str:
    return _json(
        session_id=sid,
        customer_id=cid,
        session_start=ts,
        device="mobile",
        pages_viewed=pages,
        traffic_source="ads",
    )


def email(eid: str, cid: str = "C1", kind: str = "open", ts: str = "2024-03-03T08:00:00Z") -> str:
    return _json(event_id=eid, customer_id=cid, campaign_id="K1", event_type=kind, event_ts=ts)


def ticket(tid: str, cid: str = "C2", closed: str | None = "2024-03-06T08:00:00Z", sat: object = 4) -> str:
    return _json(
        ticket_id=tid,
        customer_id=cid,
        opened_ts="2024-03-05T08:00:00Z",
        closed_ts=closed,
        category="delivery",
        satisfaction=sat,
    )


GOOD = {
    "orders": [
        order("O1", "C1", gross="100.00", discount="10.00"),
        order("O2", "C2", "2024-03-02T11:30:00Z"),
        order("O3", ERASED_ID, "2024-12-31T23:59:59Z"),
    ],
    "refunds": ["R1,O1,C1,2024-03-10T09:00:00Z,20.00", f"R2,O3,{ERASED_ID},2024-12-31T23:59:59Z,1.00"],
    "sessions": [session("S1"), session("S2", ERASED_ID)],
    "email_events": [email("E1"), email("E2", ERASED_ID, "click")],
    "support_tickets": [ticket("T1"), ticket("T2", ERASED_ID, None, None)],
    "customers": [
        "C1,2024-02-01T10:00:00Z,organic,DE,ann@example.com,Ann Berg,true",
        "C2,2024-02-03T10:00:00Z,social,FR,bob@example.com,Bob Roy,false",
        f"{ERASED_ID},2024-02-04T10:00:00Z,email,NL,cy@example.com,Cy Dee,true",
    ],
    "pos_transactions": [
        f"{ERASED_ID}      06.03.2024  7.00    1",
        f"{ERASED_ID}      06.03.2024  7.00    1",  # the same purchase twice: two orders, not a duplicate
        "C1      05.03.2024  12.50   2",
    ],
}
BAD_LINES: list[tuple[Bad, str]] = [
    (Bad("orders", "malformed_line", "OX01"), "OX01,C1,2024-03-01T10:00:00Z,web"),
    (Bad("orders", "missing_required", "OX02"), order("OX02", "")),
    (Bad("orders", "unparseable_timestamp", "OX03"), order("OX03", ts="01/03/2024")),
    (Bad("orders", "future_timestamp", "OX04"), order("OX04", ts="2025-01-02T00:00:00Z")),
    (Bad("orders", "before_business_start", "OX05"), order("OX05", ts="2001-03-01T10:00:00Z")),
    (Bad("orders", "unparseable_amount", "OX06"), order("OX06", gross="ten")),
    (Bad("orders", "negative_amount", "OX07"), order("OX07", gross="-10.00")),
    (Bad("orders", "unknown_currency", "OX08"), order("OX08", currency="USD")),
    (Bad("orders", "discount_exceeds_gross", "OX09"), order("OX09", discount="20.00")),
    (Bad("orders", "unparseable_integer", "OX10"), order("OX10", items="two")),
    (Bad("orders", "bad_encoding", "OX11"), order("OX11", category="h\udcffme")),
    (Bad("orders", "duplicate_key", "77.70"), order("O2", "C2", "2024-03-02T11:30:00Z", gross="77.70")),
    (Bad("refunds", "unknown_order", "RX01"), "RX01,OY404,C1,2024-03-10T09:00:00Z,5.00"),
    (Bad("refunds", "negative_amount", "RX02"), "RX02,O1,C1,2024-03-10T09:00:00Z,-5.00"),
    (Bad("refunds", "unparseable_timestamp", "RX03"), "RX03,O1,C1,yesterday,5.00"),
    (Bad("refunds", "customer_mismatch", "RX04"), "RX04,O1,C2,2024-03-10T09:00:00Z,5.00"),
    (Bad("refunds", "refund_before_order", "RX05"), "RX05,O1,C1,2024-02-28T09:00:00Z,5.00"),
    (Bad("refunds", "refund_exceeds_order", "RX06"), "RX06,O1,C1,2024-03-10T09:00:00Z,90.01"),
    (Bad("sessions", "malformed_line", "SX01"), '{"session_id": "SX01", "customer_id": '),
    (Bad("sessions", "out_of_range", "SX02"), session("SX02", pages=-1)),
    (Bad("sessions", "unparseable_integer", "SX03"), session("SX03", pages="many")),
    # a byte that is not UTF-8 inside a JSON line: the parser cannot read it, the encoding rule names why
    (Bad("sessions", "bad_encoding", "SX04"), session("SX04").replace("ads", "a\udcffds")),
    (Bad("email_events", "unknown_event_type", "EX01"), email("EX01", kind="bounce")),
    (Bad("email_events", "future_timestamp", "EX02"), email("EX02", ts="2035-01-01T00:00:00Z")),
    (Bad("support_tickets", "out_of_range", "TX01"), ticket("TX01", sat=9)),
    (Bad("support_tickets", "closed_before_opened", "TX02"), ticket("TX02", closed="2024-03-01T00:00:00Z")),
    (Bad("support_tickets", "missing_required", "TX03"), ticket("TX03", cid="")),
    (
        Bad("customers", "unparseable_boolean", "CX01"),
        "CX01,2024-02-01T10:00:00Z,organic,DE,x@example.com,X,maybe",
    ),
    (Bad("customers", "malformed_line", "CX02"), "CX02,2024-02-01T10:00:00Z"),
    (Bad("customers", "invalid_email", "CX04"), "CX04,2024-02-01T10:00:00Z,organic,DE,x4.example.com,X,true"),
    (
        Bad("customers", "invalid_country", "CX05"),
        "CX05,2024-02-01T10:00:00Z,organic,Germany,x5@example.com,X,",
    ),
    (
        Bad("customers", "bad_encoding", "CX03"),
        "CX03,2024-02-01T10:00:00Z,organic,DE,b@example.com,Bj\udcffrn,true",
    ),
    (
        Bad("customers", "malformed_line", f"{ERASED_ID},2024-02-04T10:00:00Z,email,NL,***"),
        f"{ERASED_ID},2024-02-04T10:00:00Z,email,NL,cy@example.com",
    ),
    (Bad("email_events", "unknown_event_type", "EX03"), email("EX03", ERASED_ID, kind="bounce")),
    (Bad("pos_transactions", "unparseable_timestamp", "31.02.2024"), "C1      31.02.2024  3.00    1"),
    (Bad("pos_transactions", "unparseable_amount", "drei"), "C2      01.03.2024  drei    1"),
    (Bad("pos_transactions", "malformed_line", "C9"), "C9      01.03.2024"),
    (Bad("pos_transactions", "negative_amount", "-4.00"), "C2      01.03.2024  -4.00   1"),
    (Bad("orders", "non_positive_quantity", "OX12"), order("OX12", items="-3")),
    (Bad("orders", "non_positive_quantity", "OX13"), order("OX13", items="0")),
    (Bad("orders", "malformed_line", "OX14"), order("OX14", cid='"2322')),  # a quote left open
    (Bad("orders", "id_too_long", "OX15"), order("OX15", cid="C" * 65)),
    (Bad("sessions", "id_too_long", "SX05"), session("SX05", cid="C" * 65)),
    (Bad("pos_transactions", "non_positive_quantity", "9.99"), "C2      01.03.2024  9.99    -3"),
]
# exact copies of good rows, in another file: dropped as duplicates, not quarantined
DUPLICATES = {
    "orders": [GOOD["orders"][0]],
    "sessions": [GOOD["sessions"][0]],
    "customers": [GOOD["customers"][0]],
}
FILES = {
    "orders": ("orders_2024-03.csv", "orders_2024-12.csv", ORDERS_HEADER),
    "refunds": ("refunds_2024-03.csv", "refunds_2024-12.csv", REFUNDS_HEADER),
    "sessions": ("sessions_2024-03.jsonl", "sessions_2024-04.jsonl", None),
    "email_events": ("email_events_2024-03.jsonl", "email_events_2024-04.jsonl", None),
    "support_tickets": ("support_tickets_2024-03.jsonl", "support_tickets_2024-04.jsonl", None),
    "customers": ("customers_2024-02.csv", "customers_2024-03.csv", CUSTOMERS_HEADER),
    "pos_transactions": ("pos_2024-03.txt", "pos_2024-04.txt", POS_HEADER),
}
FOLDER = {"pos_transactions": "pos"}
MAPPING = {
    "name": "pos_transactions",
    "folder": "pos",
    "glob": "*.txt",
    "separator": "whitespace",
    "header": True,
    "timestamp_format": "dd.MM.yyyy",
    "columns": {"customer_id": "kunde", "timestamp": "datum", "amount": "betrag", "quantity": "stueck"},
    "channel": "store",
}


def mapping_file(root: Path) -> str:
    path = root / "sources" / "pos.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(MAPPING))
    return str(path)


def _write(path: Path, lines: list[str]) -> None:
    """UTF-8, except lone surrogates (\\udcff) which become the invalid byte 0xff, as a broken exporter writes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8", errors="surrogateescape"))


def write_landing(landing: Path) -> None:
    """Good rows and bad rows in a first file per source; a second file with the duplicates (and the rest)."""
    for source, (first, second, header) in FILES.items():
        folder = landing / FOLDER.get(source, source)
        head = [header] if header else []
        good, bad = GOOD[source], [line for b, line in BAD_LINES if b.source == source]
        _write(folder / first, head + good[:-1] + bad)
        _write(folder / second, head + good[-1:] + DUPLICATES.get(source, []))


def expected_counts() -> dict[str, tuple[int, int, int, int]]:
    """Per source: (read, accepted, quarantined, duplicate)."""
    out = {}
    for source in FILES:
        bad = sum(1 for b, _ in BAD_LINES if b.source == source)
        good, dup = len(GOOD[source]), len(DUPLICATES.get(source, []))
        out[source] = (good + bad + dup, good, bad, dup)
    return out
