/* extension/updates/pgpull--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pgpull UPDATE TO '1.1'" to load this file. \quit

/*
 * pgpull 1.0 to 1.1, written by hand.  Every change to extension/src/ goes
 * here too, in the same commit; tests/t/003_upgrade.pl proves that a 1.0
 * database updated with this script equals a fresh 1.1 install.
 */
