-- Written by `python -m authgate.store.fresh_schema` from the migrations; do not edit.
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

CREATE TABLE users (
	id VARCHAR(26) NOT NULL, 
	email VARCHAR(254) NOT NULL, 
	password_hash VARCHAR(255) NOT NULL, 
	is_active BOOLEAN NOT NULL, 
	is_staff BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	last_login DATETIME, token_version INTEGER DEFAULT '0' NOT NULL, 
	PRIMARY KEY (id)
);

CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE refresh_tokens (
	jti VARCHAR(64) NOT NULL, 
	family_id VARCHAR(64) NOT NULL, 
	user_id VARCHAR(26) NOT NULL, 
	expires_at DATETIME NOT NULL, 
	spent_at DATETIME, 
	revoked_at DATETIME, 
	PRIMARY KEY (jti), 
	FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE
);

CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);

CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);

CREATE INDEX refresh_tokens_expiry_idx ON refresh_tokens (expires_at);

CREATE TABLE clients (
	id VARCHAR(40) NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	scopes VARCHAR(1000) NOT NULL, 
	is_active BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);

CREATE TABLE client_secrets (
	id VARCHAR(26) NOT NULL, 
	client_id VARCHAR(40) NOT NULL, 
	digest VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(client_id) REFERENCES clients (id) ON DELETE CASCADE
);

CREATE INDEX client_secrets_client_idx ON client_secrets (client_id);

CREATE TABLE changes (
	seq INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	subject VARCHAR(64) NOT NULL, 
	kind VARCHAR(32) NOT NULL, 
	version INTEGER, 
	at DATETIME NOT NULL
);

CREATE INDEX changes_at_idx ON changes (at);

CREATE TABLE signing_keys (
	kid VARCHAR(64) NOT NULL, 
	algorithm VARCHAR(16) NOT NULL, 
	public_jwk TEXT, 
	private_key BLOB, 
	created_at DATETIME NOT NULL, 
	activates_at DATETIME NOT NULL, 
	deactivates_at DATETIME, 
	retired_at DATETIME, 
	PRIMARY KEY (kid)
);

CREATE TABLE django_users (
	django_pk VARCHAR(64) NOT NULL, 
	user_id VARCHAR(26) NOT NULL, 
	token_version INTEGER NOT NULL, 
	legacy_cost INTEGER, 
	PRIMARY KEY (django_pk), 
	FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE
);

CREATE UNIQUE INDEX django_users_user_key ON django_users (user_id);

CREATE INDEX django_users_legacy_cost_idx ON django_users (legacy_cost);

