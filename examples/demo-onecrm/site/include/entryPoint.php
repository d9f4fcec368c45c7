<?php
// Reads include/config/local_config.php and boots the application.
require 'include/config/local_config.php';
require 'include/utils.php';
