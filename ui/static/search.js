// search.js: hashing a file dropped on the search box; H7's file replaces this placeholder.
