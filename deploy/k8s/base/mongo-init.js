// Forms the tix MongoDB replica set and creates the persister's user.
// Run by the Job tix-mongo-init as `mongosh --nodb mongo-init.js`; idempotent.
//
// Environment: MONGO_RS_NAME, MONGO_RS_MEMBERS (host:port,... in member
// order), MONGO_ROOT_USERNAME, MONGO_ROOT_PASSWORD (the root user that the
// image's entrypoint created on each member), MONGO_APP_PASSWORD (for the
// user `tix`, readWrite on the database `tix`).

function env(name) {
  const v = process.env[name];
  if (!v) {
    print(`mongo-init: ${name} is not set`);
    quit(2);
  }
  return v;
}

const rsName = env("MONGO_RS_NAME");
const members = env("MONGO_RS_MEMBERS").split(",").map((h) => h.trim()).filter((h) => h);
const auth = `${encodeURIComponent(env("MONGO_ROOT_USERNAME"))}:${encodeURIComponent(env("MONGO_ROOT_PASSWORD"))}`;
const appPassword = env("MONGO_APP_PASSWORD");
const opts = "authSource=admin&serverSelectionTimeoutMS=5000&connectTimeoutMS=5000";

// Retries fn every 5 s until it returns without throwing.
function retry(what, fn) {
  for (let attempt = 1; ; attempt++) {
    try {
      return fn();
    } catch (e) {
      if (attempt % 6 === 1) print(`mongo-init: waiting for ${what}: ${e.message}`);
      sleep(5000);
    }
  }
}

// 1. Every member answers (each still a lone, uninitiated mongod the first time).
for (const host of members) {
  retry(host, () => new Mongo(`mongodb://${auth}@${host}/?directConnection=true&${opts}`)
    .getDB("admin").runCommand({ ping: 1 }));
}

// 2. Initiate the set through the first member, unless it exists.
const first = new Mongo(`mongodb://${auth}@${members[0]}/?directConnection=true&${opts}`);
const config = { _id: rsName, members: members.map((host, i) => ({ _id: i, host })) };
const res = first.getDB("admin").runCommand({ replSetInitiate: config });
if (res.ok) {
  print(`mongo-init: replica set ${rsName} initiated with ${members.join(",")}`);
} else if (res.codeName === "AlreadyInitialized") {
  print(`mongo-init: replica set ${rsName} already initiated`);
} else {
  print(`mongo-init: replSetInitiate failed: ${res.codeName}: ${res.errmsg}`);
  quit(1);
}

// 3. Wait for a primary, then create or update the persister's user there.
const set = retry("a primary", () => {
  const m = new Mongo(`mongodb://${auth}@${members.join(",")}/?replicaSet=${rsName}&${opts}`);
  if (!m.getDB("admin").runCommand({ hello: 1 }).isWritablePrimary) throw new Error("no primary yet");
  return m;
});
const tix = set.getDB("tix");
if (tix.getUser("tix") === null) {
  tix.createUser({ user: "tix", pwd: appPassword, roles: [{ role: "readWrite", db: "tix" }] },
    { w: "majority" });
  print("mongo-init: user tix created");
} else {
  // Keeps the password in step with the Secret after a rotation.
  tix.updateUser("tix", { pwd: appPassword, roles: [{ role: "readWrite", db: "tix" }] },
    { w: "majority" });
  print("mongo-init: user tix updated");
}
print("mongo-init: done");
