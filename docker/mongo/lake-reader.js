// Runs once, on a new volume (mongosh, from the image's entrypoint, before authentication is on): the
// lake's read-only login, which Mongo Express and the dashboard connect as. It lives in the lake database
// itself (their authSource) and may read that database and nothing else; the pipeline keeps the root login.
for (const name of ["MONGO_DB", "LAKE_READER_USER", "LAKE_READER_PASSWORD"]) {
  if (!process.env[name]) {
    throw new Error(`${name} is not set: the mongo service passes it from .env`);
  }
}
const lakeName = process.env.MONGO_DB;
db.getSiblingDB(lakeName).createUser({
  user: process.env.LAKE_READER_USER,
  pwd: process.env.LAKE_READER_PASSWORD,
  roles: [{ role: "read", db: lakeName }],
});
