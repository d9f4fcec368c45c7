<?php
class Account { public $table_name = 'accounts'; }
