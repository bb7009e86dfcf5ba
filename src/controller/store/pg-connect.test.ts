import { test } from 'node:test';
import assert from 'node:assert/strict';
import { explainConnectError, parseDatabaseUrl, redactDatabaseUrl } from './pg-connect.ts';

test('redactDatabaseUrl — hides the password (also in the query), shows nothing of a value that is not a URL', () => {
  assert.equal(redactDatabaseUrl('postgres://fustor:s3cr%40t@db:5432/fustor'), 'postgres://fustor:***@db:5432/fustor');
  assert.equal(redactDatabaseUrl('postgres://fustor@db/fustor?password=s3cret&sslmode=require'), 'postgres://fustor@db/fustor?password=***&sslmode=require');
  assert.equal(redactDatabaseUrl('postgres://db/fustor'), 'postgres://db/fustor');
  assert.equal(redactDatabaseUrl('user:s3cret@db'), '(value not shown)');
  assert.equal(redactDatabaseUrl('postgres:s3cret@db/x'), '(value not shown)');
  assert.equal(redactDatabaseUrl('mysql://u:s3cret@db/x'), 'mysql://…');
  assert.equal(redactDatabaseUrl('postgres://[bad:s3cret'), 'postgres://…');
});

test('parseDatabaseUrl — PostgreSQL URLs only, with a host and a database; errors never show the password', () => {
  assert.deepEqual(parseDatabaseUrl('postgresql://u:p@db.example/fustor'), { url: 'postgresql://u:p@db.example/fustor', host: 'db.example', port: 5432, database: 'fustor', user: 'u' });
  assert.equal(parseDatabaseUrl('postgres://u@127.0.0.1:6543/x').port, 6543);
  for (const [url, re] of [
    ['mysql://u:s3cret@db/x', /only PostgreSQL is supported/],
    ['postgres://u:s3cret@db', /names no host or no database/],
    ['postgres://u:s3cret@db/a/b', /names no host or no database/],
    ['s3cret', /not a URL/],
    ['postgres:s3cret@db/x', /names no host or no database/],
  ] as const) {
    assert.throws(() => parseDatabaseUrl(url), (e: Error) => re.test(e.message) && !e.message.includes('s3cret'), url);
  }
});

test('explainConnectError — one line per cause, naming the fix', () => {
  const t = parseDatabaseUrl('postgres://fustor:s3cret@db:5432/fustor');
  const cases: [unknown, RegExp][] = [
    [{ code: 'ECONNREFUSED' }, /^cannot connect to PostgreSQL at db:5432: connection refused: start PostgreSQL there or fix --database/],
    [{ code: 'ENOTFOUND' }, /host db not found/],
    [{ code: 'CONNECT_TIMEOUT' }, /no answer \(CONNECT_TIMEOUT\)/],
    [{ code: '28P01', message: 'password authentication failed for user "fustor"' }, /refused user "fustor": password authentication failed: fix --database .* with the right user and password/],
    [{ code: '3D000' }, /database "fustor" does not exist on db:5432: create it \(createdb -h db -p 5432 fustor\)/],
    [{ code: 'XX000', message: 'boom\nsecond line' }, /^cannot use PostgreSQL at postgres:\/\/fustor:\*\*\*@db:5432\/fustor: boom$/],
  ];
  for (const [e, re] of cases) {
    const line = explainConnectError(e, t);
    assert.match(line, re);
    assert.ok(!line.includes('\n') && !line.includes('s3cret'), line);
  }
});
