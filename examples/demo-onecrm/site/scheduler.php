<?php
// Run by cron every 5 minutes in a real install (`php -f scheduler.php`); cutover pauses it during the update.
require 'include/entryPoint.php';
