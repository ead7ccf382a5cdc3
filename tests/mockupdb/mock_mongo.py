#!/usr/bin/python3
"""A scriptable MongoDB for tix-persister's wire-level tests, on python3-mockupdb.

Run it with Debian's interpreter (/usr/bin/python3: python3-mockupdb and its
pymongo `bson` live there):

    /usr/bin/python3 tests/mockupdb/mock_mongo.py --port P --record FILE [--script JSON]

It answers enough of the protocol for libmongoc 1.23 (the hello/isMaster
handshake with maxWireVersion 13, ping, createIndexes, listIndexes,
insert/update/delete with upserts, find, the aggregate countDocuments sends,
getMore, killCursors, endSessions, dropDatabase) against an in-memory store
that enforces _id and the unique indexes clients create, and it RECORDS every
command: one canonical Extended JSON line per command in FILE, e.g.

    {"event": "ready", "port": 40123}
    {"event": "command", "seq": 3, "name": "update", "db": "tix", "doc": {...},
     "fault": "drop", "reply": {...} | null, "inserted": [{...full doc...}]}

`doc` is the command as sent (with OP_MSG document sequences, e.g. `updates`,
merged in), `reply` what was sent back (null when the connection was dropped),
`inserted` the documents this command added to the store.

The script (a JSON object) makes failures happen once each:

    {"faults": [{"name": "update", "coll": "orders", "nth": 1, "action": "drop"}],
     "seed": {"tix.orders": [{"_id": "x", "sale_id": "s", "user_id": "u"}]}}

`nth` counts the commands with that name (and collection, when given) from 1.
Actions:
    drop          close the connection without applying or replying
    apply_drop    apply the writes, then close without replying (lost reply)
    wce           apply, reply ok with a writeConcernError (64, WriteConcernFailed)
    not_primary   reply ok:0, code 10107 NotWritablePrimary, without applying
    slow:MS       apply, wait MS milliseconds, then reply (the client gave up)
    dup_id        a concurrent writer inserts the first statement's document
                  just before this command runs: that statement gets E11000 on _id_
Seeded documents are in the store from the start, e.g. another order holding
a user's ticket (then an upsert for that user hits the unique index).

The process runs until killed; SIGTERM stops it cleanly.
"""

import argparse
import datetime
import json
import signal
import sys
import threading
import time

from bson import json_util, ObjectId, SON
from bson.json_util import CANONICAL_JSON_OPTIONS
from mockupdb import MockupDB

WIRE_VERSION = 13  # MongoDB 5.0


class Store:
    """Collections as dicts _id -> document, plus unique indexes."""

    def __init__(self):
        self.colls = {}    # "db.coll" -> {id_key: doc}
        self.indexes = {}  # "db.coll" -> [(name, [fields], unique)]
        self.lock = threading.Lock()

    @staticmethod
    def key(value):
        return json_util.dumps(value, json_options=CANONICAL_JSON_OPTIONS)

    def coll(self, ns):
        return self.colls.setdefault(ns, {})

    def duplicate(self, ns, doc, index):
        """Error dict when doc would break unique index `index`, else None."""
        name, fields, _ = index
        values = [doc.get(f) for f in fields]
        for other in self.coll(ns).values():
            if other is not doc and [other.get(f) for f in fields] == values:
                shown = ", ".join('%s: %s' % (f, json.dumps(v)) for f, v in zip(fields, values))
                return {"code": 11000, "codeName": "DuplicateKey",
                        "keyPattern": SON((f, 1) for f in fields),
                        "keyValue": SON(zip(fields, values)),
                        "errmsg": "E11000 duplicate key error collection: %s index: %s dup key: { %s }"
                                  % (ns, name, shown)}
        return None

    def insert(self, ns, doc):
        """Inserts doc; returns an error dict (duplicate key) or None."""
        coll = self.coll(ns)
        if "_id" not in doc:
            doc["_id"] = ObjectId()
        if self.key(doc["_id"]) in coll:
            return self.duplicate(ns, doc, ("_id_", ["_id"], True))
        for index in self.indexes.get(ns, []):
            err = self.duplicate(ns, doc, index) if index[2] else None
            if err:
                return err
        coll[self.key(doc["_id"])] = doc
        return None

    def find(self, ns, query):
        return [d for d in self.coll(ns).values() if all(d.get(k) == v for k, v in query.items())]


def apply_update(doc, u, inserting):
    if any(k.startswith("$") for k in u):
        for k, v in u.get("$set", {}).items():
            doc[k] = v
        if inserting:
            for k, v in u.get("$setOnInsert", {}).items():
                doc[k] = v
    else:
        keep = doc.get("_id")
        doc.clear()
        doc.update(u)
        if keep is not None:
            doc.setdefault("_id", keep)


class Server:
    def __init__(self, port, record, script):
        self.store = Store()
        self.record = open(record, "a", buffering=1)
        self.faults = [dict(f, seen=0, fired=False) for f in script.get("faults", [])]
        self.counts = {}
        self.seq = 0
        for ns, docs in script.get("seed", {}).items():
            for d in json_util.loads(json.dumps(docs)):
                self.store.insert(ns, d)
        self.mock = MockupDB(port=port, request_timeout=int(1e6))
        self.mock.autoresponds(self.handle)

    # -- recording -------------------------------------------------------
    def write(self, line):
        self.record.write(json_util.dumps(line, json_options=CANONICAL_JSON_OPTIONS) + "\n")

    def fault_for(self, name, coll):
        for f in self.faults:
            if f["name"].lower() != name.lower() or f.get("coll", coll) != coll:
                continue
            f["seen"] += 1
            if not f["fired"] and f["seen"] == f.get("nth", 1):
                f["fired"] = True
                return f["action"]
        return None

    # -- commands --------------------------------------------------------
    def hello(self, req):
        return {"ismaster": True, "isWritablePrimary": True, "helloOk": True,
                "maxWireVersion": WIRE_VERSION, "minWireVersion": 0,
                "maxBsonObjectSize": 16 * 1024 * 1024, "maxMessageSizeBytes": 48000000,
                "maxWriteBatchSize": 100000, "localTime": datetime.datetime.now(),
                "connectionId": 1, "ok": 1}

    def create_indexes(self, db, doc, inserted):
        ns = "%s.%s" % (db, doc["createIndexes"])
        have = self.store.indexes.setdefault(ns, [])
        before = len(have) + 1
        for spec in doc.get("indexes", []):
            fields = list(spec["key"].keys())
            if not any(i[0] == spec["name"] for i in have):
                index = (spec["name"], fields, bool(spec.get("unique")))
                for d in self.store.coll(ns).values():
                    err = self.store.duplicate(ns, d, index) if index[2] else None
                    if err:
                        return {"ok": 0, "code": 11000, "errmsg": err["errmsg"]}
                have.append(index)
        return {"ok": 1, "numIndexesBefore": before, "numIndexesAfter": len(have) + 1,
                "createdCollectionAutomatically": before == 1}

    def update(self, db, doc, inserted, fault):
        ns = "%s.%s" % (db, doc["update"])
        ordered = doc.get("ordered", True)
        matched = modified = 0
        upserted, errors = [], []
        for i, st in enumerate(doc.get("updates", [])):
            q, u = st.get("q", {}), st.get("u", {})
            if fault == "dup_id" and i == 0:
                other = {k: v for k, v in q.items() if not isinstance(v, dict)}
                apply_update(other, u, True)
                if self.store.insert(ns, other) is None:  # the concurrent writer wins the race
                    inserted.append(other)
                err = self.store.duplicate(ns, {"_id": q.get("_id")}, ("_id_", ["_id"], True))
                errors.append(dict(err, index=i))
                continue
            found = self.store.find(ns, q)
            if found:
                before = dict(found[0])
                apply_update(found[0], u, False)
                matched += 1
                modified += found[0] != before
                continue
            if not st.get("upsert"):
                continue
            new = {k: v for k, v in q.items() if not isinstance(v, dict)}
            apply_update(new, u, True)
            err = self.store.insert(ns, new)
            if err:
                errors.append(dict(err, index=i))
                if ordered:
                    break
            else:
                upserted.append({"index": i, "_id": new["_id"]})
                inserted.append(new)
        reply = {"n": matched + len(upserted), "nModified": modified, "ok": 1}
        if upserted:
            reply["upserted"] = upserted
        if errors:
            reply["writeErrors"] = errors
        return reply

    def insert(self, db, doc, inserted):
        ns = "%s.%s" % (db, doc["insert"])
        n, errors = 0, []
        for i, d in enumerate(doc.get("documents", [])):
            err = self.store.insert(ns, d)
            if err:
                errors.append(dict(err, index=i))
                if doc.get("ordered", True):
                    break
            else:
                n += 1
                inserted.append(d)
        reply = {"n": n, "ok": 1}
        if errors:
            reply["writeErrors"] = errors
        return reply

    def delete(self, db, doc):
        ns = "%s.%s" % (db, doc["delete"])
        n = 0
        for st in doc.get("deletes", []):
            for d in self.store.find(ns, st.get("q", {}))[: (1 if st.get("limit") else None)]:
                del self.store.coll(ns)[self.store.key(d["_id"])]
                n += 1
        return {"n": n, "ok": 1}

    def find(self, db, doc):
        ns = "%s.%s" % (db, doc["find"])
        found = self.store.find(ns, doc.get("filter", {}))
        limit = abs(doc.get("limit", 0) or 0) or len(found)
        return {"cursor": {"id": 0, "ns": ns, "firstBatch": found[:limit]}, "ok": 1}

    def aggregate(self, db, doc):
        """Only what countDocuments sends: [$match, $group {_id, n: {$sum: 1}}]."""
        ns = "%s.%s" % (db, doc["aggregate"])
        docs = list(self.store.coll(ns).values())
        out = docs
        for stage in doc.get("pipeline", []):
            if "$match" in stage:
                out = [d for d in out if all(d.get(k) == v for k, v in stage["$match"].items())]
            elif "$group" in stage:
                out = [{"_id": stage["$group"]["_id"], "n": len(out)}] if out else []
            elif "$skip" in stage:
                out = out[stage["$skip"]:]
            elif "$limit" in stage:
                out = out[:stage["$limit"]]
        return {"cursor": {"id": 0, "ns": ns, "firstBatch": out}, "ok": 1}

    def dispatch(self, name, db, doc, fault, inserted):
        lname = name.lower()
        if lname in ("ismaster", "hello"):
            return self.hello(doc)
        if fault == "not_primary":
            return {"ok": 0, "code": 10107, "codeName": "NotWritablePrimary", "errmsg": "not primary",
                    "errorLabels": ["RetryableWriteError"]}
        if lname == "createindexes":
            return self.create_indexes(db, doc, inserted)
        if lname == "update":
            return self.update(db, doc, inserted, fault)
        if lname == "insert":
            return self.insert(db, doc, inserted)
        if lname == "delete":
            return self.delete(db, doc)
        if lname == "find":
            return self.find(db, doc)
        if lname == "aggregate":
            return self.aggregate(db, doc)
        if lname == "listindexes":
            ns = "%s.%s" % (db, doc["listIndexes"])
            batch = [{"v": 2, "key": {"_id": 1}, "name": "_id_"}]
            for name, fields, unique in self.store.indexes.get(ns, []):
                batch.append(dict({"v": 2, "key": SON((f, 1) for f in fields), "name": name},
                                  **({"unique": True} if unique else {})))
            return {"cursor": {"id": 0, "ns": ns, "firstBatch": batch}, "ok": 1}
        if lname == "dropdatabase":
            for ns in [ns for ns in self.store.colls if ns.startswith(db + ".")]:
                del self.store.colls[ns]
                self.store.indexes.pop(ns, None)
            return {"ok": 1}
        if lname == "getmore":
            return {"cursor": {"id": 0, "ns": db + "." + doc.get("collection", ""), "nextBatch": []}, "ok": 1}
        return {"ok": 1}  # ping, endSessions, killCursors, buildInfo, ...

    def handle(self, req):
        doc = req.doc
        name = req.command_name or "?"
        db = doc.get("$db") or (req.namespace or "admin").split(".")[0]
        coll = doc.get(name) if isinstance(doc.get(name), str) else None
        with self.store.lock:
            self.seq += 1
            fault = None if name.lower() in ("ismaster", "hello") else self.fault_for(name, coll)
            line = {"event": "command", "seq": self.seq, "name": name, "db": db, "doc": doc, "fault": fault,
                    "reply": None, "inserted": []}
            if fault == "drop":
                self.write(line)
                return req.hangup()
            reply = self.dispatch(name, db, doc, fault, line["inserted"])
            if fault == "wce":
                reply["writeConcernError"] = {"code": 64, "codeName": "WriteConcernFailed",
                                              "errmsg": "waiting for replication timed out",
                                              "errInfo": {"wtimeout": True}}
            line["reply"] = None if fault == "apply_drop" else reply
            self.write(line)
        if fault == "apply_drop":
            return req.hangup()
        try:
            if fault and fault.startswith("slow:"):
                time.sleep(int(fault[5:]) / 1000.0)
            return req.replies(reply)
        except OSError:
            return True  # the client gave up on a slow reply and closed the connection

    def run(self):
        port = self.mock.run()
        self.write({"event": "ready", "port": port})
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *a: stop.set())
        signal.signal(signal.SIGINT, lambda *a: stop.set())
        while not stop.wait(3600):
            pass
        self.mock.stop()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--record", required=True)
    p.add_argument("--script", default="{}")
    a = p.parse_args()
    Server(a.port, a.record, json.loads(a.script)).run()


if __name__ == "__main__":
    sys.exit(main())
